//! Every statistic of a trace, computed once.
