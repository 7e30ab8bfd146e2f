"""What traceability tells the apps above it, so it imports none of them."""

from django.dispatch import Signal

# Sent by operation_record inside its transaction, after the operation's rows are written, with
# `operation` and `actor`: measurements records its machine parameters (a receiver's error,
# a 400 naming the parameter, rolls the whole operation back).
operation_recorded = Signal()

# Sent by operation_finish inside its transaction, the operation locked, before ended_at is
# written, with `operation` and `ended_at`: measurements refuses an end before a value the
# station already sent into the run (a receiver's error, a 400 naming ended_at, finishes nothing).
operation_finishing = Signal()
