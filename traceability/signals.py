"""What traceability tells the apps above it, so it imports none of them."""

from django.dispatch import Signal

# Sent by operation_record inside its transaction, after the operation's rows are written, with
# `operation` and `actor`: measurements records its machine parameters (a receiver's error,
# a 400 naming the parameter, rolls the whole operation back).
operation_recorded = Signal()
