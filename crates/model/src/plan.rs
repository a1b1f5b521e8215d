//! Orders and plans: the model-level values that the scheduler produces and the simulator
//! can follow, so that neither depends on the other's algorithms.

use serde::{Deserialize, Serialize};

/// A concrete patient order (a batch to make).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order or patient identifier (pseudonymous).
    pub id: String,
    /// Product index in the model.
    pub product: usize,
    /// Apheresis (arrival of starting material), hours from the model's time 0.
    pub release_h: f64,
    /// Due date (target infusion-ready time), hours from time 0.
    pub due_h: f64,
    /// Priority weight.
    pub weight: f64,
}

/// One planned operation: a step of an order on a unit of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOp {
    /// Index into [`Plan::orders`].
    pub order: usize,
    /// Step index within the order's product.
    pub step: usize,
    /// The resource that carries the operation (the step's main resource), if any.
    pub resource: Option<usize>,
    /// Unit of that resource (0-based).
    pub unit: u32,
    /// Planned start, hours.
    pub start_h: f64,
    /// Planned end, hours.
    pub end_h: f64,
}

/// A plan: orders and their operations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The orders planned.
    pub orders: Vec<Order>,
    /// Planned operations, any order.
    pub ops: Vec<PlannedOp>,
}

impl Plan {
    /// Planned start of `step` of `order`, if planned.
    pub fn start_of(&self, order: usize, step: usize) -> Option<f64> {
        self.ops
            .iter()
            .find(|o| o.order == order && o.step == step)
            .map(|o| o.start_h)
    }
}
