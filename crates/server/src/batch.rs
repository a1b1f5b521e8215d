//! Batch records over HTTP, and the registry records of batch twins.

use store::Tx;
use store::batch::TwinWrite;

use crate::registry;
use crate::util::ApiError;

/// Keeps the discovery links of a batch twin that `store::batch` has just
/// written in step with its shell and, when the server's public base URL is
/// known, registers the shell and its Batch Record submodel — in the same
/// transaction as the record entries.
pub fn register_twin(tx: &mut Tx<'_>, base: Option<&str>, w: &TwinWrite) -> Result<(), ApiError> {
    let (twin, old) = w;
    registry::relink_shell(tx, &twin.shell.id, old.as_ref(), Some(&twin.shell))?;
    if let Some(base) = base {
        for sm in &twin.submodels {
            registry::register_submodel(tx, base, sm)?;
        }
        registry::register_shell(tx, base, &twin.shell)?;
    }
    Ok(())
}
