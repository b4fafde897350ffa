"""Restricted rooms (要害部门部位), their foreign policy and staff access lists."""
