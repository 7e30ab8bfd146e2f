"""One driver per connector kind (opcua, mqtt, modbus), each behind `drivers.base.Driver`."""
