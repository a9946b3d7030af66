/* page.c - GET /: the web page (web/index.html, compiled in). It talks to
 * the same API as curl does: /login, /upload, /jobs, and the signed links
 * (/d/) of done jobs for downloads. GET /favicon.svg (and /favicon.ico, the
 * address browsers try on their own): the page's icon. */
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

/* A note on a disc: the page's icon, small enough to write out here. */
static const char favicon[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">"
    "<circle cx=\"16\" cy=\"16\" r=\"15\" fill=\"#1d4ed8\"/>"
    "<path d=\"M13 8v11.5a3.5 3.5 0 1 0 2 3.2V12l7-2V17.5a3.5 3.5 0 1 0 2 3.2V6z\" fill=\"#fff\"/>"
    "</svg>\n";

void gw_favicon_serve(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_raw(resp, 200, "image/svg+xml", favicon, sizeof favicon - 1);
    /* An SVG opened on its own is a document: it may run nothing. */
    v2m_http_add_header(resp, "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    v2m_http_add_header(resp, "X-Content-Type-Options", "nosniff");
    v2m_http_add_header(resp, "Cache-Control", "max-age=86400");
}
