"""Visitors (外来人员, 境外人员), their area permissions, and the guards' entry and exit log."""
