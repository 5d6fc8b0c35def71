"""The audit trail: AuditEvent and the one function every service calls to record one."""
