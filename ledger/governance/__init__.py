"""Controlled change: catalog releases under four eyes, reconciliation with payments, and
compliance checks. Use cases over the ledger; the rules themselves are pure, in ledger.domain."""
