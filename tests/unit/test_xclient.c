/*
 * test_xclient.c - XCLIENT attribute lists and the reply Postfix gives.
 *
 * Each "reply" below is what the installed Postfix 3.7.11 smtpd answered
 * to "XCLIENT <args>" from an authorized client ("" = its new 220
 * greeting, i.e. success).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xclient.h"

#define A255                                                                                   \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct xcase {
    const char *args;
    const char *reply;
};

static void reply_table(void **state)
{
    (void)state;
    static const struct xcase cases[] = {
        {"", "501 5.5.4 Syntax: XCLIENT attribute=value..."},
        {"   \t ", "501 5.5.4 Syntax: XCLIENT attribute=value..."},
        {"NAME", "501 5.5.4 Error: attribute=value expected"},
        {"NAME=", "501 5.5.4 Error: attribute=value expected"},
        {"HELO=a b", "501 5.5.4 Error: attribute=value expected"},
        {"from:x", "501 5.5.4 Error: attribute=value expected"},
        {"=foo", "501 5.5.4 Bad XCLIENT attribute name: "},
        {"FOO=bar NAME=x.com", "501 5.5.4 Bad XCLIENT attribute name: FOO"},
        {"NAME=x.com FOO=bar", "501 5.5.4 Bad XCLIENT attribute name: FOO"},
        {"NAME=foo.com NAME=bar.com", ""},
        {"name=Foo.COM helo=x port=1", ""},
        {"NAME=x.com\tADDR=1.2.3.4", ""},
        {"NAME=x.com  ADDR=1.2.3.4", ""},
        {"NAME=1.2.3.4", "501 5.5.4 Bad NAME syntax: 1.2.3.4"},
        {"NAME=[1.2.3.4]", "501 5.5.4 Bad NAME syntax: [1.2.3.4]"},
        {"NAME=foo_bar.com", ""},
        {"name=[unavailable]", ""},
        {"NAME=[TEMPUNAVAIL]", ""},
        {"NAME=foo.com=bar", "501 5.5.4 Bad NAME syntax: foo.com=bar"},
        {"NAME=\"a b.com\"", "501 5.5.4 Bad NAME syntax: \"a b.com\""},
        {"NAME=<a b.com>", "501 5.5.4 Bad NAME syntax: <a b.com>"},
        {"NAME=\"x.com ADDR=1.2.3.4", "501 5.5.4 Bad NAME syntax: \"x.com ADDR=1.2.3.4"},
        {"NAME=x.com\\ ADDR=1.2.3.4", "501 5.5.4 Bad NAME syntax: x.com\\ ADDR=1.2.3.4"},
        {"NAME=<a\"b>c\"> ADDR=x", "501 5.5.4 Bad NAME syntax: <a\"b>c\">"},
        /* xtext */
        {"NAME=foo+2Ecom", ""},
        {"NAME=+66oo.com", ""},
        {"NAME=foo+2", "501 5.5.4 Bad NAME syntax: foo+2"},   /* bad xtext: raw value */
        {"NAME=foo+", "501 5.5.4 Bad NAME syntax: foo+"},     /* '+' at the end */
        {"NAME=+6G", "501 5.5.4 Bad NAME syntax: +6G"},
        {"NAME=+00", "501 5.5.4 Bad NAME syntax: "},          /* NUL ends the value */
        {"NAME=a+0Ab.com", "501 5.5.4 Bad NAME syntax: a?b.com"}, /* printable() */
        {"NAME=a+7Fb.com", "501 5.5.4 Bad NAME syntax: a?b.com"},
        {"NAME=+C3+A4.com", "501 5.5.4 Bad NAME syntax: \xc3\xa4.com"}, /* UTF-8 kept */
        {"ADDR=+31.2.3.4", ""},
        /* ADDR, DESTADDR */
        {"ADDR=::1", "501 5.5.4 Bad ADDR syntax: ::1"},
        {"ADDR=IPv6:::1", ""},
        {"ADDR=ipv6:::1", ""},
        {"ADDR=IPV6:::1", ""},
        {"ADDR=IPv6:1.2.3.4", "501 5.5.4 Bad ADDR syntax: IPv6:1.2.3.4"},
        {"ADDR=IPv6:::1:", "501 5.5.4 Bad ADDR syntax: IPv6:::1:"},
        {"ADDR=[TEMPUNAVAIL]", "501 5.5.4 Bad ADDR syntax: [TEMPUNAVAIL]"},
        {"ADDR=[UNAVAILABLE]", ""},
        {"ADDR=01.2.3.4", ""},
        {"ADDR=0.1.2.3", "501 5.5.4 Bad ADDR syntax: 0.1.2.3"},
        {"ADDR=1.2.3.4.", "501 5.5.4 Bad ADDR syntax: 1.2.3.4."},
        {"ADDR=1.2.3.4 FOO=x", "501 5.5.4 Bad XCLIENT attribute name: FOO"},
        {"NAME=x.com ADDR=bad NAME=y", "501 5.5.4 Bad ADDR syntax: bad"},
        {"DESTADDR=1.2.3.4", ""},
        {"DESTADDR=bad", "501 5.5.4 Bad DESTADDR syntax: bad"},
        {"DESTADDR=[UNAVAILABLE]", ""},
        /* PORT, DESTPORT: digits only, at most five, no range check */
        {"PORT=99999", ""},
        {"PORT=025", ""},
        {"PORT=00000", ""},
        {"PORT=123456", "501 5.5.4 Bad PORT syntax: 123456"},
        {"PORT=-1", "501 5.5.4 Bad PORT syntax: -1"},
        {"PORT=+", "501 5.5.4 Bad PORT syntax: +"},
        {"PORT=+00", "501 5.5.4 Bad PORT syntax: "},
        {"PORT=[TEMPUNAVAIL]", "501 5.5.4 Bad PORT syntax: [TEMPUNAVAIL]"},
        {"PORT=1 PORT=x", "501 5.5.4 Bad PORT syntax: x"},
        {"DESTPORT=[UNAVAILABLE]", ""},
        {"DESTPORT=+00", "501 5.5.4 Bad DESTPORT syntax: "},
        /* PROTO, HELO, LOGIN, REVERSE_NAME */
        {"PROTO=esmtp", ""},
        {"PROTO=LMTP", "501 5.5.4 Bad PROTO syntax: LMTP"},
        {"PROTO=[UNAVAILABLE]", "501 5.5.4 Bad PROTO syntax: [UNAVAILABLE]"},
        {"HELO=[UNAVAILABLE]", ""},
        {"HELO=[TEMPUNAVAIL]", ""},
        {"HELO=a<b", ""},
        {"HELO=+00", ""},
        {"HELO=" A255, ""},
        {"HELO=" A255 "a", "501 5.5.4 Error: attribute value too long"},
        {"HELO=+41" A255, "501 5.5.4 Error: attribute value too long"}, /* raw length */
        {"LOGIN=bob", ""},
        {"LOGIN=[UNAVAILABLE]", ""},
        {"REVERSE_NAME=foo.com", ""},
        {"REVERSE_NAME=-x.com", "501 5.5.4 Bad REVERSE_NAME syntax: -x.com"},
        {"REVERSE_NAME=[unavailable]", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xclient_attrs a;
        char buf[600];
        enum xclient_result r = xclient_parse(cases[i].args, strlen(cases[i].args), &a);
        xclient_reply(r, &a, buf, sizeof(buf));
        if (strcmp(buf, cases[i].reply) != 0)
            fail_msg("case %zu \"%s\": got \"%s\" want \"%s\"", i, cases[i].args, buf,
                     cases[i].reply);
        if ((r == XCLIENT_OK) != (cases[i].reply[0] == '\0'))
            fail_msg("case %zu: result %d", i, r);
    }
}

static void values(void **state)
{
    (void)state;
    struct xclient_attrs a;
    const char *in = "NAME=foo.com ADDR=IPv6:2001:db8::1 PORT=12345 PROTO=esmtp "
                     "HELO=a(b)@c LOGIN=u+40x DESTADDR=192.0.2.1 DESTPORT=25 "
                     "REVERSE_NAME=[TEMPUNAVAIL] name=bar.com";
    assert_int_equal(xclient_parse(in, strlen(in), &a), XCLIENT_OK);
    assert_int_equal(a.attr[XCLIENT_NAME].state, XCLIENT_VALUE);
    assert_string_equal(a.attr[XCLIENT_NAME].text, "bar.com"); /* last one wins */
    assert_string_equal(a.attr[XCLIENT_ADDR].text, "IPv6:2001:db8::1");
    assert_int_equal(a.attr[XCLIENT_ADDR].bare, 5);
    assert_string_equal(a.attr[XCLIENT_PORT].text, "12345");
    assert_string_equal(a.attr[XCLIENT_PROTO].text, "ESMTP");
    assert_string_equal(a.attr[XCLIENT_HELO].text, "a?b??c"); /* neutered */
    assert_string_equal(a.attr[XCLIENT_LOGIN].text, "u@x");
    assert_int_equal(a.attr[XCLIENT_DESTADDR].bare, 0);
    assert_int_equal(a.attr[XCLIENT_REVERSE_NAME].state, XCLIENT_TEMPUNAVAIL);

    /* On error the attributes before the bad one are kept (Postfix has
     * already applied them); later ones are not. */
    in = "NAME=x.com ADDR=bad HELO=y";
    assert_int_equal(xclient_parse(in, strlen(in), &a), XCLIENT_ERR_BAD_VALUE);
    assert_int_equal(a.attr[XCLIENT_NAME].state, XCLIENT_VALUE);
    assert_int_equal(a.attr[XCLIENT_ADDR].state, XCLIENT_ABSENT);
    assert_int_equal(a.attr[XCLIENT_HELO].state, XCLIENT_ABSENT);
    assert_int_equal(a.bad_attr, XCLIENT_ADDR);

    /* The parser sees a C string, as Postfix does: a NUL ends the line. */
    assert_int_equal(xclient_parse("NAME=x.com\0FOO=y", 16, &a), XCLIENT_OK);
    /* smtputf8_enable = no: UTF-8 is masked too. */
    assert_int_equal(xclient_parse_flags("NAME=+C3+A4", 11, XCLIENT_FLAG_ASCII, &a),
                     XCLIENT_ERR_BAD_VALUE);
    assert_string_equal(a.bad_value, "??");
}

static void reply_truncation(void **state)
{
    (void)state;
    struct xclient_attrs a;
    char small[10];
    const char *in = "SOMEVERYLONGNAME=1";
    enum xclient_result r = xclient_parse(in, strlen(in), &a);
    assert_int_equal(r, XCLIENT_ERR_BAD_NAME);
    size_t n = xclient_reply(r, &a, small, sizeof(small));
    assert_int_equal(n, strlen("501 5.5.4 Bad XCLIENT attribute name: SOMEVERYLONGNAME"));
    assert_string_equal(small, "501 5.5.4");
    assert_string_equal(xclient_attr_name(XCLIENT_REVERSE_NAME), "REVERSE_NAME");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reply_table),
        cmocka_unit_test(values),
        cmocka_unit_test(reply_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
