//! Locks that stay usable after a panic elsewhere.
//!
//! Every value behind the crate's locks is consistent between statements (a panic cannot
//! leave one half-written), and a panic in one request, poll or test must not take the
//! client, the watch or the embedded server down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};
#[cfg(feature = "server")]
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// The read-write locks are the embedded server's.
#[cfg(feature = "server")]
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(feature = "server")]
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
