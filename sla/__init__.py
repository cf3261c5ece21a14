"""Pure rules: calendar, policy, SLA engine, KPI maths. No temporalio, no I/O, no clock reads."""
