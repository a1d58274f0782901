"""The auditor's toolkit beyond proofs: why the check answered as it did (`explain`), and the
audit pack an auditor takes home and checks offline (`pack`)."""
