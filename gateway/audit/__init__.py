"""The audit trail: every mutating operation on either API, hash-chained, in the same
transaction as the change (decision 0015).

* ``gateway.core.audit`` -- the scope a request opens (who, what, where) and ``housekeeping()``;
* ``kv`` -- ``AuditedKV``, the store wrapper that appends a record inside each write;
* ``log`` -- the record format, the chain, ``verify`` and ``query``;
* ``requests`` -- what the protocol layers call around a request (failures and reads).
"""
