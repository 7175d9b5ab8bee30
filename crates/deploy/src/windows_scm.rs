//! The Windows Service Control Manager entry point (`headroom install agent service`): the SCM
//! starts it, it runs the proxy as a child, reports Running, stops the child on Stop/Shutdown,
//! and reports a service-specific exit code when the proxy dies so the failure actions
//! (`sc.exe failure … restart/1000`, `failureflag 1`) restart it.

use crate::deployment::Deployment;

#[cfg(windows)]
mod scm {
    use std::ffi::OsString;
    use std::process::Command;
    use std::sync::{OnceLock, mpsc};
    use std::time::Duration;

    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::{define_windows_service, service_dispatcher};

    use crate::deployment::Deployment;

    static DEPLOYMENT: OnceLock<Deployment> = OnceLock::new();

    define_windows_service!(ffi_service_main, service_main);

    pub fn run(d: Deployment) -> anyhow::Result<()> {
        let name = d.service_name();
        let _ = DEPLOYMENT.set(d);
        service_dispatcher::start(&name, ffi_service_main)
            .map_err(|e| anyhow::anyhow!("cannot connect to the service control manager: {e}"))
    }

    fn service_main(_args: Vec<OsString>) {
        if let Some(d) = DEPLOYMENT.get() {
            let _ = serve(d);
        }
    }

    fn status(state: ServiceState, exit: ServiceExitCode) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: exit,
            checkpoint: 0,
            wait_hint: Duration::from_secs(15),
            process_id: None,
        }
    }

    fn serve(d: &Deployment) -> windows_service::Result<()> {
        let (stop_tx, stop_rx) = mpsc::channel();
        let handler = move |event| match event {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let _ = stop_tx.send(());
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let handle = service_control_handler::register(d.service_name(), handler)?;
        let child = Command::new(&d.exe)
            .args(d.proxy_args())
            .envs(d.proxy_env())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(_) => {
                return handle.set_service_status(status(
                    ServiceState::Stopped,
                    ServiceExitCode::ServiceSpecific(1),
                ));
            }
        };
        handle.set_service_status(status(ServiceState::Running, ServiceExitCode::Win32(0)))?;
        let exit = loop {
            match stop_rx.recv_timeout(Duration::from_millis(500)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break ServiceExitCode::Win32(0);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(st)) = child.try_wait() {
                // Non-zero service-specific code: the SCM's failure actions restart us.
                let code = st.code().unwrap_or(1).unsigned_abs().max(1);
                break ServiceExitCode::ServiceSpecific(code);
            }
        };
        handle.set_service_status(status(ServiceState::Stopped, exit))
    }
}

/// Run as the Windows service of `d` until the SCM stops it.
pub fn run_service(d: Deployment) -> anyhow::Result<()> {
    #[cfg(windows)]
    {
        scm::run(d)
    }
    #[cfg(not(windows))]
    {
        let _ = d;
        anyhow::bail!(
            "`install agent service` is the Windows service entry point; use `install agent run` here"
        )
    }
}
