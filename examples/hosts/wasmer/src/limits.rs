//! The engine, and the memory cap a service sets on the modules it runs.

use std::ptr::NonNull;

use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition,
};
use wasmer::sys::{BaseTunables, NativeEngineExt, Singlepass, Tunables};
use wasmer::{Engine, MemoryType, Pages, TableType};

/// A singlepass engine (it compiles a large module fastest); with `max_pages`, every memory it
/// creates is capped at that many 64 KiB pages: growing past the cap fails as `memory.grow`
/// does (the guest sees `MemoryError`), and a module that needs more from the start does not
/// instantiate.
pub fn engine(max_pages: Option<u32>) -> Engine {
    let mut engine = Engine::from(Singlepass::default());
    if let Some(pages) = max_pages {
        let base = BaseTunables::for_target(engine.target());
        engine.set_tunables(Capped {
            max: Pages(pages),
            base,
        });
    }
    engine
}

/// wasmer's own tunables, with every memory's maximum lowered to `max`.
struct Capped {
    max: Pages,
    base: BaseTunables,
}

impl Capped {
    fn capped(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        if ty.minimum > self.max {
            return Err(MemoryError::MinimumMemoryTooLarge {
                min_requested: ty.minimum,
                max_allowed: self.max,
            });
        }
        let mut ty = *ty;
        ty.maximum = Some(ty.maximum.map_or(self.max, |max| max.min(self.max)));
        Ok(ty)
    }
}

impl Tunables for Capped {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        // The style of the capped memory, so that the code compiled for it checks its bounds
        // the same way.
        let capped = self.capped(memory).unwrap_or(*memory);
        self.base.memory_style(&capped)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(&self.capped(ty)?, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: the caller's guarantee for `vm_definition_location` is passed on unchanged.
        unsafe {
            self.base
                .create_vm_memory(&self.capped(ty)?, style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: as above.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }
}
