/*
 * smtp_body.h - MAIL FROM's BODY= parameter (RFC 6152), shared by the
 * command parser (smtp_cmd.h) and the next-hop client (smtp_client.h).
 */
#ifndef MX_SMTP_BODY_H
#define MX_SMTP_BODY_H

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

#endif
