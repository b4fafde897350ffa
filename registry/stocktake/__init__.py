"""Inventories (清查) and destruction (销毁) of registered items."""
