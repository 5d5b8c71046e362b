//! What the vGIC models ask the arch layer to do: changes to the physical
//! GIC and to a vCPU's virtual interrupts ([`Action`]).

/// A change the arch layer applies to the physical GIC (SPIs, SGIs) or to
/// its virtual interrupt bookkeeping (the `Private*` actions). vCPU indices
/// are the cell's: vCPU `i` runs on physical CPU `cell.cpus[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    /// Enable the owned SPI in the physical distributor.
    Enable {
        /// The SPI.
        intid: u32,
    },
    /// Disable the owned SPI in the physical distributor. The arch layer
    /// may also retract a virtual instance it has queued.
    Disable {
        /// The SPI.
        intid: u32,
    },
    /// Make the owned SPI pending in the physical distributor (it then
    /// arrives at the hypervisor like any other instance).
    SetPending {
        /// The SPI.
        intid: u32,
    },
    /// Clear the owned SPI's physical pending state; a virtual instance
    /// already queued or in a list register should be retracted as well.
    ClearPending {
        /// The SPI.
        intid: u32,
    },
    /// Set the owned SPI's physical active state.
    SetActive {
        /// The SPI.
        intid: u32,
    },
    /// Clear (deactivate) the owned SPI's physical active state.
    ClearActive {
        /// The SPI.
        intid: u32,
    },
    /// Program the owned SPI's physical priority (top five bits valid).
    Priority {
        /// The SPI.
        intid: u32,
        /// The new priority.
        priority: u8,
    },
    /// Program the owned SPI's trigger mode.
    Config {
        /// The SPI.
        intid: u32,
        /// `true` for edge-triggered, `false` for level-sensitive.
        edge: bool,
    },
    /// Route the owned SPI to the physical CPU of the cell's vCPU `vcpu`.
    Route {
        /// The SPI.
        intid: u32,
        /// Target vCPU index (always below the cell's vCPU count).
        vcpu: usize,
    },
    /// Deliver SGI `intid` to every vCPU in `targets` (bit `i` = vCPU `i`,
    /// never beyond the cell's vCPUs, never empty). The sender is the
    /// calling vCPU of the access that produced it.
    SendSgi {
        /// The SGI (0..15).
        intid: u32,
        /// Target vCPU mask.
        targets: u8,
    },
    /// The guest enabled SGI/PPI `intid` of vCPU `vcpu` (virtual state;
    /// for a hardware-backed PPI such as the timer, unmask the physical one
    /// and inject whatever waited).
    PrivateEnable {
        /// The vCPU whose SGI/PPI changed.
        vcpu: usize,
        /// The SGI or PPI (0..31).
        intid: u32,
    },
    /// The guest disabled SGI/PPI `intid` of vCPU `vcpu`.
    PrivateDisable {
        /// The vCPU whose SGI/PPI changed.
        vcpu: usize,
        /// The SGI or PPI (0..31).
        intid: u32,
    },
    /// The guest made SGI/PPI `intid` of vCPU `vcpu` pending: inject it.
    PrivatePending {
        /// The target vCPU.
        vcpu: usize,
        /// The SGI or PPI (0..31).
        intid: u32,
    },
    /// The guest cleared the pending state of SGI/PPI `intid` of vCPU
    /// `vcpu`: retract a queued or still-pending instance.
    PrivateClearPending {
        /// The target vCPU.
        vcpu: usize,
        /// The SGI or PPI (0..31).
        intid: u32,
    },
}
