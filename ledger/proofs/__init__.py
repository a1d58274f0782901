"""The verifiable log of contract section 7: each tenant's Merkle tree kept beside the event
store, signed tree heads, and inclusion and consistency proofs (`log.py`; its audit, `audit.py`), on
nothing but the store's `event_hashes`, `fact_at_sequence`, `sequence_of` and `head`."""

from ledger.proofs.log import NoSuchEventError, ProofRequestError, VerifiableLog

__all__ = ["NoSuchEventError", "ProofRequestError", "VerifiableLog"]
