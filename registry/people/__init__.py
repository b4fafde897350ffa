"""Personnel with secrecy duties: categories, clearances, commitment letters, training, reminders."""
