"""Learners: behaviour cloning, planning, EWC, curiosity, competence."""
