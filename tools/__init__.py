"""bareflow.tools"""
