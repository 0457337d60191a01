"""bareflow.emu"""
