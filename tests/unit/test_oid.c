/* test_oid.c - ObjectIds: checking, normalising, making. */
#include "check.h"
#include "common/oid.h"

int main(void)
{
    char out[25], again[25];
    v2m_error e = {0};

    CHECK(v2m_oid_norm("ABCDEF0123456789abcdef01", out, &e) == V2M_OK);
    CHECK_STR(out, "abcdef0123456789abcdef01");
    CHECK(v2m_oid_norm("abcdef0123456789abcdef0", out, &e) == V2M_ENOTFOUND);
    CHECK(v2m_oid_norm("abcdef0123456789abcdef0g", out, &e) == V2M_ENOTFOUND);
    CHECK(v2m_oid_norm(NULL, out, &e) == V2M_ENOTFOUND && strstr(e.msg, "(null)"));

    CHECK(v2m_oid_is_normal("abcdef0123456789abcdef01", 24));
    CHECK(!v2m_oid_is_normal("ABCDEF0123456789abcdef01", 24));
    CHECK(!v2m_oid_is_normal("abcdef0123456789abcdef01", 23));
    CHECK(!v2m_oid_is_normal("abcdef0123456789abcdef01.json", 29));
    CHECK(!v2m_oid_is_normal(NULL, 24));

    v2m_oid_new(out);
    v2m_oid_new(again);
    CHECK(v2m_oid_is_normal(out, strlen(out)) && v2m_oid_is_normal(again, strlen(again)));
    CHECK(strcmp(out, again) != 0);
    CHECK(v2m_oid_norm(out, again, &e) == V2M_OK && strcmp(out, again) == 0);
    return check_exit("test_oid");
}
