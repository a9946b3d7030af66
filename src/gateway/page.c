/* page.c - GET /: the web page (web/index.html, compiled in). It talks to
 * the same API as curl does: /login, /files/ (tus, resumable) or /upload,
 * /jobs, and the signed links (/d/) of done jobs for downloads. GET
 * /favicon.svg (and /favicon.ico, the address browsers try on their own):
 * the page's icon. GET /static/tus.min.js: the browser build of
 * tus-js-client the page uploads with, and /static/tus-js-client-LICENSE.txt
 * its licence (web/vendor/tus-js-client, compiled in). */
#include "gateway.h"
#include "page.h"

void gw_page_serve(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_raw(resp, 200, "text/html; charset=utf-8", (const char *)gw_page,
                       sizeof gw_page);
    /* Everything the page needs is in it or beside it (its one script file,
     * /static/tus.min.js): nothing else may load or frame it. */
    v2m_http_add_header(resp, "Content-Security-Policy",
                        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
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

/* The same bytes for every version of the gateway that carries this
 * version of the script: a day in caches, like the icon. */
static void static_headers(v2m_http_resp *resp)
{
    v2m_http_add_header(resp, "X-Content-Type-Options", "nosniff");
    v2m_http_add_header(resp, "Cache-Control", "public, max-age=86400");
    v2m_http_add_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

void gw_tus_js_serve(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_raw(resp, 200, "text/javascript; charset=utf-8", (const char *)gw_tus_js,
                       sizeof gw_tus_js);
    static_headers(resp);
}

void gw_tus_license_serve(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_raw(resp, 200, "text/plain; charset=utf-8", (const char *)gw_tus_license,
                       sizeof gw_tus_license);
    static_headers(resp);
}
