//! The chain edge: alloy bindings from the contracts' build output, one Provider, transactions
//! by fill + send_raw_transaction + receipt polling, and a reorg-safe event cursor.
