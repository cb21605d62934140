"""Measured studies of the course chapter on how deep learning became practical.

Data flows one way: profile -> runner -> notebook -> study -> engine -> MLflow -> report.
"""
