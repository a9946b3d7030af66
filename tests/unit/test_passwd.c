/* Password hashes: yescrypt format, verification, legacy plaintext. */
#include <stdlib.h>
#include <string.h>

#include "auth/passwd.h"
#include "check.h"

int main(void)
{
    char h1[V2M_HASH_MAX], h2[V2M_HASH_MAX];
    v2m_error e = {0};
    int legacy = -1;

    CHECK(v2m_passwd_hash("Admin123", h1, sizeof h1, &e) == V2M_OK);
    CHECK(strncmp(h1, "$y$", 3) == 0);
    CHECK(strlen(h1) < 255);
    CHECK(v2m_passwd_hash("Admin123", h2, sizeof h2, &e) == V2M_OK);
    CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
    CHECK(v2m_passwd_verify("Admin123", h1, &legacy) == 1);
    CHECK(legacy == 0);
    CHECK(v2m_passwd_verify("Admin124", h1, &legacy) == 0);
    CHECK(v2m_passwd_verify("", h1, &legacy) == 0);
    CHECK(v2m_passwd_verify("Admin123", "$y$garbage", &legacy) == 0);
    /* Legacy plaintext rows. */
    CHECK(v2m_passwd_verify("Admin123", "Admin123", &legacy) == 1);
    CHECK(legacy == 1);
    CHECK(v2m_passwd_verify("Admin12", "Admin123", &legacy) == 0);
    CHECK(v2m_passwd_verify("Admin1234", "Admin123", &legacy) == 0);
    /* Unknown user: the dummy hash runs and never matches. */
    CHECK(v2m_passwd_verify("anything", NULL, &legacy) == 0);
    /* Policy for new passwords. */
    CHECK(v2m_passwd_check_new("", &e) == V2M_EINVAL);
    CHECK(v2m_passwd_check_new("a\nbcdefghij", &e) == V2M_EINVAL);
    CHECK(v2m_passwd_check_new("abcdefgh\r", &e) == V2M_EINVAL);
    /* At least 8 characters; multi-byte UTF-8 characters count once. */
    CHECK(v2m_passwd_check_new("ok", &e) == V2M_EINVAL);
    CHECK(strstr(e.msg, "at least 8") != NULL);
    CHECK(v2m_passwd_check_new("1234567", &e) == V2M_EINVAL);
    CHECK(v2m_passwd_check_new("12345678", &e) == V2M_OK);
    CHECK(v2m_passwd_check_new("Admin123", &e) == V2M_OK);
    CHECK(v2m_passwd_check_new("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", &e) == V2M_EINVAL); /* 4 chars, 8 bytes */
    CHECK(v2m_passwd_check_new("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", &e) == V2M_OK);
    {
        char *big = malloc(V2M_PASSWORD_MAX + 2);
        memset(big, 'x', V2M_PASSWORD_MAX + 1);
        big[V2M_PASSWORD_MAX + 1] = '\0';
        CHECK(v2m_passwd_check_new(big, &e) == V2M_EINVAL);
        free(big);
    }
    return check_exit("test_passwd");
}
