/* page.c - GET /: the web page (web/index.html, compiled in). It talks to
 * the same API as curl does: /login, /upload, /jobs, and the signed links
 * (/d/) of done jobs for downloads. */
#include "gateway.h"
#include "page.h"

void gw_page_serve(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_raw(resp, 200, "text/html; charset=utf-8", (const char *)gw_page,
                       sizeof gw_page);
    /* Everything the page needs is in it: nothing else may load or frame it. */
    v2m_http_add_header(resp, "Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    v2m_http_add_header(resp, "X-Content-Type-Options", "nosniff");
    v2m_http_add_header(resp, "Referrer-Policy", "no-referrer");
}
