"""Batch analysis: jobs that analyze many documents into the store, and the reports and exports read from it."""
