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
        Ok(Self {
            wasi: wasi_context(grants)?,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http: GrantedHttp::new(grants.hosts.clone(), egress, body_limits),
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

/// The memory cap of one call: wasmtime's store limits, remembering whether
/// a growth was refused so the failure that follows is named for it.
pub struct MemoryCap {
    limits: StoreLimits,
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
        let limits = StoreLimitsBuilder::new()
            .memory_size((memory_mb as usize) << 20)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .memories(MAX_MEMORIES)
            .build();
        Self {
            limits,
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
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.refused |= !allowed;
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
