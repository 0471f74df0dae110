"""rmsweep.verl_cpu"""
