"""Approvals (审批): requests decided by an approver, never by the requester or the beneficiary.

Generic over kinds (checkout, area_permission, provision, destruction, copy) so that every
domain that needs a prior approval uses the same request → decide → consume-once cycle.
"""
