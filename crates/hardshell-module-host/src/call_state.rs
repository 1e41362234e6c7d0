//! What one call's store holds: its WASI context (built from the grants,
//! deny by default), its `wasi:http` hooks and its memory cap.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::egress::{BodyLimits, Egress};
use crate::error::CallError;
use crate::grants::{Grants, Workspace};
use crate::outgoing::GrantedHttp;

/// How much a module may print to stdout and to stderr in one call. The
/// output is kept apart from the host's (never inherited) and dropped with
/// the call: it may echo the arguments.
pub const OUTPUT_BYTES: usize = 64 * 1024;

/// Where a granted workspace appears inside the module.
pub const WORKSPACE_GUEST_PATH: &str = "/workspace";

/// The most resources (streams, pollables, headers, requests, open files)
/// a call may hold at once. Each lives in host memory, outside the memory
/// cap, so without a bound a module could create them until the host runs
/// out (wasmtime's default is a million); a tool call needs tens.
pub const MAX_RESOURCES: usize = 1024;

/// The most a header set the module builds may hold, in bytes (wasmtime's
/// default is 128 KiB). With [`MAX_RESOURCES`] this bounds what headers can
/// hold in host memory; proxies refuse headers past about 8 KiB anyway.
pub const HEADER_BYTES: usize = 16 * 1024;

/// The store's data for one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub(crate) http: GrantedHttp,
    pub(crate) memory: MemoryCap,
}

impl CallState {
    pub fn new(
        grants: &Grants,
        egress: Arc<dyn Egress>,
        body_limits: BodyLimits,
    ) -> Result<Self, CallError> {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(HEADER_BYTES);
        Ok(Self {
            wasi: wasi_context(grants)?,
            table,
            http_ctx,
            http: GrantedHttp::new(grants.hosts.clone(), grants.public_web, egress, body_limits),
            memory: MemoryCap::new(grants.memory_mb),
        })
    }
}

/// The module's WASI world: empty stdin, captured and bounded stdout and
/// stderr, no environment, no arguments, no sockets (the only way out is
/// `wasi:http`, checked by [`GrantedHttp`]), and `/workspace` only when
/// granted. Clocks and random are WASI's defaults.
fn wasi_context(grants: &Grants) -> Result<WasiCtx, CallError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(MemoryOutputPipe::new(OUTPUT_BYTES))
        .stderr(MemoryOutputPipe::new(OUTPUT_BYTES))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    let preopen = match &grants.workspace {
        Workspace::None => None,
        Workspace::Read(path) => Some((path, FsPerms::ReadOnly)),
        Workspace::Write(path) => Some((path, FsPerms::ReadWrite)),
    };
    if let Some((path, perms)) = preopen {
        builder
            .preopened_dir(path, WORKSPACE_GUEST_PATH, perms)
            .map_err(CallError::Workspace)?;
    }
    Ok(builder.build())
}

impl CallState {
    /// The call's resources, for the host's own replacement of a WASI
    /// function (`workspace_open`).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

/// The memory cap of one call, over all its linear memories together:
/// wasmtime's store limits bound each memory alone (a component of several
/// core modules, each with its own memory, would get the cap once per
/// memory), so the bytes granted so far are summed here. It remembers
/// whether a growth was refused so the failure that follows is named for it.
pub struct MemoryCap {
    limits: StoreLimits,
    cap_bytes: usize,
    /// Bytes approved so far across all memories. A growth approved here
    /// that wasmtime then fails to make stays counted: the sum can only
    /// overstate, never understate, what the call holds.
    granted_bytes: usize,
    refused: bool,
}

/// Bounds beside memory: no component needs more to run one call, and each
/// instance, table or memory is host memory too.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryCap {
    fn new(memory_mb: u32) -> Self {
        let cap_bytes = (memory_mb as usize) << 20;
        let limits = StoreLimitsBuilder::new()
            .memory_size(cap_bytes)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .memories(MAX_MEMORIES)
            .build();
        Self {
            limits,
            cap_bytes,
            granted_bytes: 0,
            refused: false,
        }
    }

    pub fn refused_growth(&self) -> bool {
        self.refused
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A memory's creation comes here too, as a growth from 0.
        let after = self
            .granted_bytes
            .checked_add(desired.saturating_sub(current))
            .filter(|&total| total <= self.cap_bytes);
        let allowed = self.limits.memory_growing(current, desired, maximum)? && after.is_some();
        match after {
            Some(total) if allowed => self.granted_bytes = total,
            _ => self.refused = true,
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_cap_is_for_all_memories_together() {
        let mut cap = MemoryCap::new(4);
        // Two memories created at 3 MiB and 1 MiB fill the 4 MiB cap...
        assert!(cap.memory_growing(0, 3 * MIB, None).expect("first"));
        assert!(cap.memory_growing(0, MIB, None).expect("second"));
        assert!(!cap.refused_growth());
        // ...so a third memory, or either growing, is refused, though each
        // alone is below the cap.
        assert!(!cap.memory_growing(0, MIB, None).expect("third"));
        assert!(!cap.memory_growing(MIB, 2 * MIB, None).expect("growth"));
        assert!(cap.refused_growth());
    }

    #[test]
    fn one_memory_may_grow_to_the_cap_and_not_past_it() {
        let mut cap = MemoryCap::new(4);
        assert!(cap.memory_growing(0, MIB, None).expect("create"));
        assert!(cap.memory_growing(MIB, 4 * MIB, None).expect("to the cap"));
        assert!(!cap.refused_growth());
        assert!(
            !cap.memory_growing(4 * MIB, 4 * MIB + 65536, None)
                .expect("past")
        );
        assert!(cap.refused_growth());
    }
}
