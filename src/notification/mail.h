/* mail.h - the notification mail: composed as RFC 5322 text, then sent
 * through SMTP (libcurl) or written as an .eml file into an outbox folder. */
#ifndef V2M_NOTIFICATION_MAIL_H
#define V2M_NOTIFICATION_MAIL_H

#include <stddef.h>

#include "common/config.h"
#include "common/link.h"
#include "common/err.h"

typedef struct v2m_mail_config {
    char smtp_url[512];      /* empty: write to outbox instead */
    char smtp_safe[512];   /* smtp_url without its password, for messages */
    char user[256];          /* SMTP login; empty: no authentication */
    char *password;          /* never logged */
    char from[256];
    char outbox[1024];
    char public_url[512];    /* base of download links */
    long timeout_s;
    v2m_links links;         /* signed download links; off without V2M_LINK_SECRET */
} v2m_mail_config;

/* The mail settings: SMTP_URL, SMTP_USER, SMTP_PASSWORD, MAIL_FROM; the
 * original's GMAIL_ADDRESS / GMAIL_PASSWORD mean smtp://smtp.gmail.com:587
 * with that login and sender; V2M_OUTBOX, V2M_PUBLIC_URL, V2M_SMTP_TIMEOUT. */
extern const v2m_cfg_table v2m_mail_table;

/* Load v2m_mail_table and v2m_link_table into c. */
v2m_err v2m_mail_config_load(v2m_mail_config *c, v2m_error *err);
void v2m_mail_config_free(v2m_mail_config *c);

/* What happened to one upload. */
typedef struct v2m_notice {
    const char *username;    /* recipient */
    const char *video_fid;
    const char *mp3_fid;     /* NULL when the conversion failed */
    const char *filename;    /* may be NULL */
    const char *error;       /* reason of a failure, may be NULL */
    const char *error_code;  /* its short code (v2m_err_slug(): "noaudio"...), may be NULL */
} v2m_notice;

/* Build the message; *out is malloc'd. V2M_EINVAL when a field could break
 * the headers (line breaks, a recipient that is not an address).
 * The subject starts with the original's "MP3 Download" and names the file
 * (RFC 2047 encoded when it is not plain ASCII); a ready mail keeps the
 * original's first line and carries a signed download link (valid from now)
 * and a link to the job on the web page; a failure mail says in plain words
 * what was wrong and what to try, the technical detail below a separator. */
v2m_err v2m_mail_compose(const v2m_mail_config *c, const v2m_notice *n, long long now,
                         char **out, size_t *len, v2m_error *err);

/* Deliver msg to rcpt. SMTP failures the server may get over (connection,
 * 4xx) are V2M_EUNAVAIL; a refused recipient or login is V2M_EINVAL. */
v2m_err v2m_mail_send(const v2m_mail_config *c, const char *rcpt, const char *id,
                      const char *msg, size_t len, v2m_error *err);

/* What to tell a person about a failure of code (v2m_err_slug()), in two
 * sentences: what was wrong, what to try. Never NULL. */
void v2m_mail_advice(const char *code, const char **what, const char **try_);

#endif
