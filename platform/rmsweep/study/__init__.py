"""rmsweep.study"""
