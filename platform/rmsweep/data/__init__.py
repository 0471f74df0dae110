"""rmsweep.data"""
