/* The EAS's registration at its EES over EDGE-3, against a scripted EES on 127.0.0.1
 * that checks the EAS certificate: the EASRegistration sent, renewal at half of the
 * granted lifetime, re-registration when the EES forgot us, retry while the EES is down,
 * and a clean stop with a call in flight. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eas_ees_srv.h"
#include "eas_fixture.h"
#include "eas_upstream_srv.h"
#include "keys/truststore.h"

#define CERTS "certs/out/"

static void ensure_certs(void) {
  if (access(CERTS "ca.pem", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
}

/* A site whose eas section registers at https://127.0.0.1:|ees_port|. */
static void reg_policy(struct eas_fx *f, uint16_t ees_port, char *url, size_t cap) {
  ensure_certs();
  fx_policy(f, up_free_port(), 5000);
  snprintf(url, cap, "https://127.0.0.1:%u/", (unsigned)ees_port);
  f->ep.ees_url = url;
  f->ep.client_cert = CERTS "eas1.pem";
  f->ep.client_key = CERTS "eas1.key";
  f->ep.provider = "demo-provider";
  f->ep.type = "OTHER";
  const char *ca[] = {CERTS "ca.pem"};
  char *err = NULL;
  f->site.trust = egw_truststore_new(ca, 1, NULL, 0, &err);
  cr_assert_not_null(f->site.trust, "%s", err ? err : "");
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

/* Runs the loop until the log holds |n| lines with |what|, or |ms| passed. */
static void run_until_logged(struct eas_fx *f, const char *what, int n, int ms) {
  for (int waited = 0; count(fx_log(f), what) < n; waited += 10) {
    cr_assert_lt(waited, ms, "not logged %d times: %s\n%s", n, what, fx_log(f));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
}

static void reg_finish(struct eas_fx *f) {
  fx_finish(f);
  egw_truststore_free(f->site.trust);
  fx_log_free(f);
}

Test(eas_registration, registers_then_renews_at_half_the_granted_lifetime, .timeout = 30) {
  struct ees_srv ees;
  ees_srv_start(&ees, EES_OK, 0);
  struct eas_fx f;
  char url[64];
  reg_policy(&f, ees.port, url, sizeof(url));
  int64_t t0 = (int64_t)time(NULL);
  fx_start(&f);
  run_until_logged(&f, "\"event\":\"eas_registered\"", 1, 5000);
  cr_assert_not_null(strstr(fx_log(&f), "\"renewed\":false"), "%s", fx_log(&f));
  /* The EES grants 3 s from its clock's second; seen from here that is 2 or 3 s when the
   * machine is slow (the seconds may tick between the grant and the answer's arrival). */
  cr_assert(strstr(fx_log(&f), "\"lifetime_s\":3") || strstr(fx_log(&f), "\"lifetime_s\":2"),
            "the EES granted 3 s: %s", fx_log(&f));
  /* The renewal comes at half of that, a second or so later. */
  run_until_logged(&f, "\"renewed\":true", 1, 5000);
  reg_finish(&f);
  ees_srv_stop(&ees);

  cr_assert_str_eq(ees.peer_dns, "eas1.site1.example", "mutual TLS with the EAS certificate");
  cr_assert_str_eq(ees.methods[0], "POST");
  cr_assert_str_eq(ees.targets[0], "/eees-easregistration/v1/registrations");
  cr_assert_str_eq(ees.methods[1], "PUT");
  cr_assert_str_eq(ees.targets[1], "/eees-easregistration/v1/registrations/r1");
  json_error_t jerr;
  json_t *reg = json_loads(ees.bodies[0], 0, &jerr);
  cr_assert_not_null(reg, "%s", jerr.text);
  json_t *prof = json_object_get(reg, "easProf");
  cr_assert_str_eq(json_string_value(json_object_get(prof, "easId")), "eas1.site1.example");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(prof, "endPt"), "uri")),
                   "https://127.0.0.1:8450");
  cr_assert_str_eq(json_string_value(json_object_get(prof, "provId")), "demo-provider");
  cr_assert_str_eq(json_string_value(json_object_get(prof, "type")), "OTHER");
  const char *exp = json_string_value(json_object_get(reg, "expTime"));
  cr_assert_not_null(exp);
  struct tm tm = {0};
  cr_assert_not_null(strptime(exp, "%Y-%m-%dT%H:%M:%SZ", &tm), "%s", exp);
  int64_t asked = (int64_t)timegm(&tm) - t0;
  cr_assert(asked >= 3599 && asked <= 3602, "expTime is now + registration_ttl_s: %s", exp);
  json_decref(reg);
  json_t *renewal = json_loads(ees.bodies[1], 0, NULL);
  cr_assert_not_null(json_object_get(json_object_get(renewal, "easProf"), "easId"),
                     "the PUT carries the whole EASRegistration");
  json_decref(renewal);
}

Test(eas_registration, registers_anew_when_the_ees_forgot_it, .timeout = 30) {
  struct ees_srv ees;
  ees_srv_start(&ees, EES_RENEW_404, 0);
  struct eas_fx f;
  char url[64];
  reg_policy(&f, ees.port, url, sizeof(url));
  fx_start(&f);
  run_until_logged(&f, "\"event\":\"eas_registered\"", 2, 8000);
  reg_finish(&f);
  ees_srv_stop(&ees);
  cr_assert_str_eq(ees.methods[0], "POST");
  cr_assert_str_eq(ees.methods[1], "PUT");
  cr_assert_str_eq(ees.methods[2], "POST", "a 404 on renewal registers again");
  cr_assert_str_eq(ees.targets[2], "/eees-easregistration/v1/registrations");
}

Test(eas_registration, retries_while_the_ees_is_down, .timeout = 30) {
  uint16_t port = up_free_port();
  struct eas_fx f;
  char url[64];
  reg_policy(&f, port, url, sizeof(url));
  fx_start(&f);
  run_until_logged(&f, "\"event\":\"eas_registration_failed\"", 1, 5000);
  const char *log = fx_log(&f);
  cr_assert_not_null(strstr(log, "\"error\":\"connection refused\""), "%s", log);
  cr_assert_not_null(strstr(log, "\"retry_in_ms\":1000"), "%s", log);
  struct ees_srv ees;
  ees_srv_start(&ees, EES_OK, port);
  run_until_logged(&f, "\"event\":\"eas_registered\"", 1, 8000);
  reg_finish(&f);
  ees_srv_stop(&ees);
  cr_assert_str_eq(ees.methods[0], "POST");
}

Test(eas_registration, stop_cancels_a_call_in_flight, .timeout = 30) {
  struct ees_srv ees;
  ees_srv_start(&ees, EES_SILENT, 0);
  struct eas_fx f;
  char url[64];
  reg_policy(&f, ees.port, url, sizeof(url));
  fx_start(&f);
  for (int i = 0; i < 300 && ees.methods[0][0] == '\0'; i++) {
    uv_run(&f.loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
  cr_assert_str_eq(ees.methods[0], "POST");
  cr_assert_eq(count(fx_log(&f), "eas_registered"), 0);
  reg_finish(&f); /* stop, then the loop must end with nothing open */
  ees_srv_stop(&ees);
}

Test(eas_registration, body_without_optional_members) {
  struct egw_eas_policy p = {.id = "eas9", .endpoint_uri = "https://eas9.example:443"};
  char *text = egw__eas_registration_body(&p, 0);
  cr_assert_str_eq(text, "{\"easProf\":{\"easId\":\"eas9\",\"endPt\":{\"uri\":"
                         "\"https://eas9.example:443\"}},\"expTime\":\"1970-01-01T01:00:00Z\"}");
  free(text);
}
