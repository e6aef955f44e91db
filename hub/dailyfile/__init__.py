"""The accounting office's daily file (issue 18): a zip per Ente, service and business day.

``layout`` writes the zip (record layout DF01, receipts, cross-reference, manifest),
``files`` decides which files a day has and builds their versions, ``delivery`` tracks each
delivery (claim, attempts, backoff, dead letters, re-delivery), ``transports`` puts a file on
an SFTP or FTPS server or in an e-mail, ``targets`` checks an Ente's delivery targets.
"""
