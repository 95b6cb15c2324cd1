/* site.audit and listener.audit: the destinations, the defaults and every error. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "fixture.h"

TestSuite(config_audit, .init = fx_init, .fini = fx_fini);

Test(config_audit, default_is_the_log) {
  fx_write("l.yaml", FX_EDGE4);
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->audit.stream, EGW_AUDIT_LOG);
  cr_assert_eq(p->audit.line, 0);
  cr_assert_eq(p->listeners[0].audit.line, 0);
  egw_site_policy_free(p);
}

Test(config_audit, site_file_and_listener_override) {
  fx_write("site.yaml", FX_SITE "  audit:\n    file: audit.log\n");
  fx_write("l.yaml", FX_EDGE4 "  audit:\n    stream: off\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->audit.stream, EGW_AUDIT_FILE);
  cr_assert_eq(p->audit.line, 7);
  fx_assert_path(p->audit.file, "audit.log");
  cr_assert_eq(p->listeners[0].audit.stream, EGW_AUDIT_OFF);
  cr_assert_eq(p->listeners[0].audit.line, 12);
  egw_site_policy_free(p);

  fx_write("l.yaml", FX_EDGE4 "  audit:\n    stream: stderr\n");
  p = fx_load();
  cr_assert_eq(p->listeners[0].audit.stream, EGW_AUDIT_STDERR);
  egw_site_policy_free(p);
}

Test(config_audit, errors) {
  fx_listener_error(FX_EDGE4 "  audit:\n    stream: syslog\n",
                    "D/l.yaml:12: listener.audit.stream: unknown stream 'syslog' (expected "
                    "log, stderr, off)");
  fx_listener_error(FX_EDGE4 "  audit:\n    stream: off\n    file: a.log\n",
                    "D/l.yaml:12: listener.audit: give exactly one of 'file' and 'stream'");
  fx_listener_error(FX_EDGE4 "  audit: {}\n",
                    "D/l.yaml:11: listener.audit: give exactly one of 'file' and 'stream'");
  fx_listener_error(FX_EDGE4 "  audit:\n    file: nodir/a.log\n",
                    "D/l.yaml:12: listener.audit.file: 'nodir/a.log': the directory does not "
                    "exist or the path is not a file");
  fx_listener_error(FX_EDGE4 "  audit:\n    file: certs\n",
                    "D/l.yaml:12: listener.audit.file: 'certs': the directory does not exist "
                    "or the path is not a file");
  fx_listener_error(FX_EDGE4 "  audit:\n    colour: red\n",
                    "D/l.yaml:12: listener.audit.colour: unknown key");
  fx_site_error(FX_SITE "  audit: off\n", "D/site.yaml:6: site.audit: must be a mapping");
}
