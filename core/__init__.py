"""The ground floor every app may use: error codes, units and values, roles, idempotency.

It imports no other app of the project; every app may import it.
"""
