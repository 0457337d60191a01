"""bareflow.tui"""
