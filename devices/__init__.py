"""bareflow.devices"""
