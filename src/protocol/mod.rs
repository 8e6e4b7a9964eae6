//! Protocol state machines (operator, aggregator, generator, challenger) and quorum math.
//! Pure: time, randomness and I/O come in as inputs; effects go out as actions.
