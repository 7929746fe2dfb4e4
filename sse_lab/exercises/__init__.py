"""Checks for the workbook's exercises: one module per notebook, each check prints a verdict.

A check never raises for an unfinished answer: it prints what is still missing and
returns False, so a learner can run it as often as they like.
"""
