<#
.SYNOPSIS
Installs tern as a Windows service, or removes it (-Uninstall).

.DESCRIPTION
Copies ternd.exe, tern.exe and the tern-*.exe programs from -SourceDir
into -InstallDir, creates -DataDir with its queue and log folders,
allows only Administrators, SYSTEM and the service account into it
(inheritance removed), writes a starting tern.conf there if there is
none, registers the service with "ternd.exe service install", adds a
Windows Defender Firewall rule that lets only the -AllowFrom networks
reach the SMTP -Ports, and starts the service.

When IIS's mail root (C:\inetpub\mailroot) exists, the service account
also gets Modify on its Pickup and Badmail folders, so applications that
drop .eml files there (System.Net.Mail's pickup mode) keep working once
tern.conf's pickup section points at them.

-Uninstall stops and removes the service, the firewall rule and the
programs. The data folder (configuration, queue, logs) stays unless
-RemoveData is given.

Needs an elevated PowerShell 5.1 or later (Windows Server 2016 or later
for the virtual service account and New-NetFirewallRule). Checked only on
real Windows: the tests of this repository run under Wine, which has no
PowerShell.

.EXAMPLE
.\install.ps1 -AllowFrom 10.0.5.0/24,10.0.9.12

.EXAMPLE
.\install.ps1 -Uninstall -RemoveData
#>
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    # Folder holding ternd.exe and the other programs to install.
    [string]$SourceDir = $PSScriptRoot,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'tern'),
    [string]$DataDir = (Join-Path $env:ProgramData 'tern'),
    # Networks (CIDR) or addresses that may connect to the SMTP ports,
    # and that tern.conf lets relay. Loopback is always allowed.
    [string[]]$AllowFrom = @('127.0.0.1'),
    [int[]]$Ports = @(25),
    # Account the service runs as: the virtual account NT SERVICE\tern
    # by default, or LocalSystem, or DOMAIN\name of a managed account.
    [string]$Account = 'NT SERVICE\tern',
    [switch]$Uninstall,
    [switch]$RemoveData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName = 'tern'
$FirewallRuleName = 'tern-smtp'
$Programs = @('ternd.exe', 'tern.exe', 'tern-smtpd.exe', 'tern-qmgr.exe',
    'tern-deliver.exe', 'tern-pickup.exe')
$IisMailRoot = 'C:\inetpub\mailroot'
# Well-known SIDs, because the group names are translated on
# non-English Windows.
$AdministratorsSid = '*S-1-5-32-544'
$SystemSid = '*S-1-5-18'

function Invoke-Checked {
    # Runs a program and stops the script when it fails.
    param([string]$Program, [string[]]$Arguments)
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Get-AccountForAcl {
    # The name icacls grants: SYSTEM's SID for LocalSystem, else the
    # account as given.
    if ($Account -eq 'LocalSystem' -or $Account -eq 'NT AUTHORITY\SYSTEM') {
        return $SystemSid
    }
    return $Account
}

function Set-PrivateAcl {
    # Replaces the folder's ACL: full control for Administrators, SYSTEM
    # and the service account, inherited by everything below, and no
    # entry inherited from the parent.
    param([string]$Path)
    $service = Get-AccountForAcl
    Invoke-Checked 'icacls.exe' @($Path, '/inheritance:r', '/grant:r',
        "${AdministratorsSid}:(OI)(CI)F", "${SystemSid}:(OI)(CI)F",
        "${service}:(OI)(CI)F", '/Q')
    # Files created before this run keep explicit entries from earlier
    # ACLs; reset them to inherit the new one. icacls fails on a
    # wildcard that matches nothing, so an empty folder is skipped.
    if (Get-ChildItem -Force -Path $Path) {
        Invoke-Checked 'icacls.exe' @("$Path\*", '/reset', '/T', '/C', '/Q')
    }
    Write-Host "ACL of ${Path}: Administrators, SYSTEM and $Account only"
}

function Format-ConfigList {
    param([string[]]$Items)
    return ($Items | ForEach-Object { '"' + $_ + '"' }) -join ', '
}

function Write-StartingConfig {
    # Writes a short tern.conf for Windows; every other setting keeps
    # its built-in default (tern.conf.example lists them all).
    param([string]$Path)
    $data = $DataDir -replace '\\', '/'
    $onlyLoopback = -not ($AllowFrom | Where-Object { $_ -notmatch '^127\.|^::1' })
    $address = if ($onlyLoopback) { '127.0.0.1' } else { '0.0.0.0' }
    $listeners = ($Ports | ForEach-Object {
        "    { address = `"$address`"; port = $_; role = `"mx`"; }"
    }) -join ",`r`n"
    $relay = Format-ConfigList (@('127.0.0.0/8', '::1/128') + $AllowFrom)
    $text = @"
# tern's configuration, written by install.ps1. Every setting is
# described in tern.conf.example beside this file. Apply changes with
# "tern reload" or by restarting the service. Paths use forward slashes,
# which Windows accepts, so no backslash needs escaping.

# hostname = "mail.example.com";   # EHLO name; default: the computer's name

log = {
  level = "info";
  file = "$data/log/tern.log";
};

queue = {
  directory = "$data/queue";
};

smtpd = {
  listeners = (
$listeners
  );
  # Clients that may relay to any domain without AUTH, as IIS SMTP's
  # relay restrictions allowed them.
  relay_networks = [ $relay ];
};

# IIS's pickup folder, for applications that drop .eml files there:
# pickup = {
#   directory = "C:/inetpub/mailroot/Pickup";
#   badmail_directory = "C:/inetpub/mailroot/Badmail";
# };
"@
    # UTF-8 without a byte order mark, which libconfig would not accept.
    [System.IO.File]::WriteAllText($Path, $text.Replace("`r`n", "`n"),
        (New-Object System.Text.UTF8Encoding($false)))
    Write-Host "wrote $Path"
}

function Install-Tern {
    foreach ($program in $Programs) {
        if (-not (Test-Path (Join-Path $SourceDir $program))) {
            throw "$program was not found in $SourceDir; give -SourceDir the folder of the built programs"
        }
    }
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        throw "the service $ServiceName is already installed; run this script with -Uninstall first"
    }

    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    foreach ($program in $Programs) {
        Copy-Item -Force (Join-Path $SourceDir $program) $InstallDir
    }
    Write-Host "copied the programs to $InstallDir"

    foreach ($dir in @($DataDir, (Join-Path $DataDir 'queue'),
            (Join-Path $DataDir 'log'))) {
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
    }
    $example = Join-Path $SourceDir 'tern.conf.example'
    if (Test-Path $example) {
        Copy-Item -Force $example $DataDir
    }
    $config = Join-Path $DataDir 'tern.conf'
    if (Test-Path $config) {
        Write-Host "kept the existing $config"
    } else {
        Write-StartingConfig $config
    }

    # The service first: its virtual account exists only once the
    # service does, and the ACLs below name it.
    $ternd = Join-Path $InstallDir 'ternd.exe'
    Invoke-Checked $ternd @('service', 'install', '--config', $config,
        '--account', $Account)
    Set-PrivateAcl $DataDir
    foreach ($name in @('Pickup', 'Badmail')) {
        $dir = Join-Path $IisMailRoot $name
        if (Test-Path $dir) {
            Invoke-Checked 'icacls.exe' @($dir, '/grant',
                "$(Get-AccountForAcl):(OI)(CI)M", '/Q')
            Write-Host "granted $Account Modify on $dir"
        }
    }

    if (Get-NetFirewallRule -Name $FirewallRuleName -ErrorAction SilentlyContinue) {
        Remove-NetFirewallRule -Name $FirewallRuleName
    }
    New-NetFirewallRule -Name $FirewallRuleName -DisplayName 'tern SMTP' `
        -Description 'SMTP to tern, from the networks given to install.ps1 -AllowFrom' `
        -Direction Inbound -Protocol TCP -LocalPort $Ports `
        -RemoteAddress $AllowFrom -Action Allow | Out-Null
    Write-Host "firewall rule ${FirewallRuleName}: TCP port(s) $($Ports -join ', ') from $($AllowFrom -join ', ')"

    Invoke-Checked $ternd @('-t', '-c', $config)
    Invoke-Checked $ternd @('service', 'start')
    Write-Host "tern is installed; its log is $DataDir\log\tern.log"
}

function Uninstall-Tern {
    $ternd = Join-Path $InstallDir 'ternd.exe'
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        Invoke-Checked $ternd @('service', 'uninstall')
    } else {
        Write-Host "the service $ServiceName is not installed"
    }
    if (Get-NetFirewallRule -Name $FirewallRuleName -ErrorAction SilentlyContinue) {
        Remove-NetFirewallRule -Name $FirewallRuleName
        Write-Host "removed the firewall rule $FirewallRuleName"
    }
    if (Test-Path $InstallDir) {
        Remove-Item -Recurse -Force $InstallDir
        Write-Host "removed $InstallDir"
    }
    if ($RemoveData) {
        if (Test-Path $DataDir) {
            Remove-Item -Recurse -Force $DataDir
            Write-Host "removed $DataDir with its queue and logs"
        }
    } else {
        Write-Host "kept $DataDir (configuration, queue, logs); -RemoveData removes it"
    }
}

if ($Uninstall) {
    Uninstall-Tern
} else {
    Install-Tern
}
