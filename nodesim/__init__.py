"""nodesim: a pagoPA Node + Checkout + PSP + bank simulator for development, demos and tests.

It talks to payhub ONLY over HTTP/SOAP, exactly as pagoPA would, and never imports payhub code
(hub, soap, web, actors, workflows, payhub). Run it standalone with ``payhub-nodesim`` or mount
it inside payhub at /sim (``nodesim.pyramid``).

Settings (all optional, ``nodesim.`` prefix; ``payhub-nodesim --help`` maps them to flags):
  payhub_url               base URL of payhub (default http://127.0.0.1:6543)
  soap_path                payhub's paForNode path (default /soap/paForNode)
  broker / station         idBrokerPA / idStation (default 77777777777 / 77777777777_01)
  primitive_version        1 or 2: paGetPayment+paSendRT or the V2 pair (default 2)
  public_url               how browsers reach nodesim (default: the request's own URL)
  sendrt_timeout_seconds   the Node's wait for a paSendRT answer (default 15)
  verify_timeout_seconds   the wait for paVerify / paGetPayment (default 7)
  retry_max_attempts       paSendRT attempts before giving up (default 5)
  retry_backoff_seconds    first wait between attempts; doubles each time (default 2)
  retry_backoff_max_seconds  cap on the wait (default 3600)
  retry_poll_seconds       how often the background sender looks for due re-sends (default 0.2)
  password                 the nodeForPa password stations must send (default: any 8-15 chars)
  station_auth_header      "Header-Name: value" sent on every call to the station, as pagoPA's
                           connectivity sends its subscription key (default: none)
  standin_probe_seconds    while the station is in Stand-In, the Stand-In manager's probe this
                           often, in simulated seconds (default 300)
  standin_exit_successes   successful probes in a row that end Stand-In (default 3)
  standin_after_failures   failed station calls in a row that start it (default 0: on demand)
  standin_probe_placeholders  probe with the literal {idBrokerPA}/{idStation} (default true)
  rest_key                 the Ocp-Apim-Subscription-Key FdR 3 and the receipts service ask
  fdr3_auto_publish        publish every closed day's flow on FdR 3 before answering a list
                           (default false; development.ini: true)
  fault.<name>             default fault injection (see nodesim.faults.Faults)
"""
