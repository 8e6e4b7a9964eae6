//! Async drivers: feed a state machine events from chain, network, timers and store; carry out
//! the actions it returns. The only place where protocol meets I/O.
