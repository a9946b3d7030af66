/* Webhook signatures (against vectors made with Python's hmac), the retry
 * schedule's parser, and when a delivery is published. */
#include <string.h>

#include "check.h"
#include "notification/webhook.h"

int main(void)
{
    char sig[128], small[40];
    long long d[V2M_WEBHOOK_DELAYS_MAX];
    const char *body = "{\"video_fid\":\"x\"}";
    v2m_error e = {0};
    v2m_msg m;
    v2m_queue_msg qm;

    check_scenario = "signature";
    CHECK(v2m_webhook_sign("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
                           1700000000, body, strlen(body), sig, sizeof sig) == 0);
    CHECK_STR(sig, "t=1700000000,v1=e2626ef0a70b32b96e26fc2c8b0b470fa0356ee75aa0a4c9e0344b24fc7f21e7");
    CHECK(v2m_webhook_sign("k", 0, "", 0, sig, sizeof sig) == 0);
    CHECK_STR(sig, "t=0,v1=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
    CHECK(v2m_webhook_sign("k", 0, "", 0, small, sizeof small) == -1); /* does not fit */

    check_scenario = "retry delays";
    CHECK(v2m_webhook_parse_delays("10s,30s,1m,5m,15m,1h", d, &e) == 6);
    CHECK(d[0] == 10 && d[1] == 30 && d[2] == 60 && d[3] == 300 && d[4] == 900 && d[5] == 3600);
    CHECK(v2m_webhook_parse_delays(" 1s , 2 ", d, &e) == 2 && d[0] == 1 && d[1] == 2);
    CHECK(v2m_webhook_parse_delays("", d, &e) == -1);
    CHECK(v2m_webhook_parse_delays("1s,,2s", d, &e) == -1);
    CHECK(v2m_webhook_parse_delays("0s", d, &e) == -1);
    CHECK(v2m_webhook_parse_delays("2d", d, &e) == -1);
    CHECK(strstr(e.msg, "V2M_WEBHOOK_RETRY_DELAYS") != NULL);
    CHECK(v2m_webhook_parse_delays("soon", d, &e) == -1);
    CHECK(v2m_webhook_parse_delays("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
                                   "1,1,1", d, &e) == -1);

    check_scenario = "when the delivery is published";
    memset(&m, 0, sizeof m);
    memset(&qm, 0, sizeof qm);
    qm.attempt = 1;
    CHECK(!v2m_webhooks_due(&m, &qm));                      /* no callback_url */
    strcpy(m.callback_url, "https://example.com/hook");
    CHECK(v2m_webhooks_due(&m, &qm));                       /* the first delivery */
    qm.attempt = 2;
    strcpy(qm.error, "smtp://mail:25: Connection refused");
    CHECK(!v2m_webhooks_due(&m, &qm));                      /* the mail failed after it */
    strcpy(qm.error, V2M_WEBHOOK_NOT_QUEUED ": queue unavailable");
    CHECK(v2m_webhooks_due(&m, &qm));                       /* it was not published */
    qm.error[0] = '\0';
    CHECK(v2m_webhooks_due(&m, &qm));                       /* a consumer died: again */
    return check_exit("test_webhook");
}
