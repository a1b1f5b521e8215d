"""Runs `aas_test_engines check_server` with its `--header` values actually sent.

aas-test-engines 1.0.3 parses `--header NAME:VALUE` into the HTTP client's
`additional_headers` but never adds them to a request, so a server that requires
`Authorization: Bearer TOKEN` answers every request 401. This wrapper merges those
headers into each request (a header the test itself sets wins) and then runs the
package's own command line unchanged:

    python scripts/aas/check_server.py URL SUITE --header "Authorization: Bearer TOKEN" [...]
"""

import dataclasses
import sys

from aas_test_engines import __main__ as cli
from aas_test_engines import http

_send = http.HttpClient.send


def _send_with_headers(self, request):
    merged = dict(self.additional_headers)
    merged.update(request.headers or {})
    return _send(self, dataclasses.replace(request, headers=merged))


http.HttpClient.send = _send_with_headers

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "check_server", *sys.argv[1:]]
    cli.main()
