<#
.SYNOPSIS
Installs or updates tern as a Windows service, or removes it (-Uninstall).

.DESCRIPTION
Steps, in this order, so that a mistake stops the script before it
changes anything:
1. Checks every -AllowFrom network and -Ports value, that -SourceDir
   contains the programs and tern.conf.example, and that Administrators,
   SYSTEM or TrustedInstaller own the install folder, the data folder and
   tern.conf where they already exist. A folder or tern.conf that another
   user owns may have been planted, so the script stops on it.
2. Stops the service if it is installed and running, copies ternd.exe,
   tern.exe and the tern-*.exe programs into -InstallDir, and gives that
   folder a new ACL: Administrators and SYSTEM full control, Users and
   services read and execute, nothing inherited.
3. Creates -DataDir with its queue and log folders, owned by
   Administrators, with a new ACL that allows only Administrators,
   SYSTEM and the service account and inherits nothing.
4. Writes tern.conf from tern.conf.example when there is none, with the
   -DataDir, -Ports and -AllowFrom values. An existing tern.conf is kept.
5. Checks the configuration with "ternd.exe -t" and stops on an error.
6. Registers the service with "ternd.exe service install", or, when it
   exists, points it at the new programs and configuration.
7. Replaces the Windows Defender Firewall rule tern-smtp, which lets only
   the -AllowFrom networks reach the -Ports, and starts the service.

When IIS's mail root (C:\inetpub\mailroot) exists, the service account
also gets Modify on its Pickup and Badmail folders, which tern uses when
tern.conf has no pickup section.

-Uninstall stops and removes the service, the firewall rule and the
programs. The data folder (configuration, queue, logs) stays unless
-RemoveData is given.

Needs an elevated Windows PowerShell 5.1 or later (Windows Server 2016 or
later for the virtual service account and New-NetFirewallRule). Only real
Windows can run and check this script: the repository's tests run under
Wine, which has no PowerShell.

-AllowFrom and -Ports take a list ("-AllowFrom 10.0.5.0/24,10.0.9.12").
"powershell -File" passes such a list as one string, so the script also
splits every value at commas.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File .\install.ps1 -AllowFrom 10.0.5.0/24,10.0.9.12

.EXAMPLE
.\install.ps1 -Uninstall -RemoveData
#>
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    # Folder that contains ternd.exe, the other programs and
    # tern.conf.example.
    [string]$SourceDir = $PSScriptRoot,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'tern'),
    [string]$DataDir = (Join-Path $env:ProgramData 'tern'),
    # IPv4 or IPv6 addresses or networks (CIDR) that may connect to the
    # SMTP ports and relay through tern. Loopback is always allowed.
    [string[]]$AllowFrom = @('127.0.0.1'),
    # TCP ports tern listens on.
    [string[]]$Ports = @('25'),
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
$ConfigTemplate = 'tern.conf.example'
# The data folder that tern.conf.example names, replaced by -DataDir.
$TemplateDataDir = 'C:/ProgramData/tern'
$IisMailRoot = 'C:\inetpub\mailroot'
# Well-known SIDs, because group names are translated on non-English
# Windows.
$AdministratorsSid = 'S-1-5-32-544'
$SystemSid = 'S-1-5-18'
$UsersSid = 'S-1-5-32-545'
$ServiceGroupSid = 'S-1-5-6'
$TrustedInstallerSid = 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464'

function Invoke-Checked {
    # Runs a program and stops the script when it fails.
    param([string]$Program, [string[]]$Arguments)
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Resolve-FullPath {
    # Makes a path absolute against $PWD. .NET calls resolve a relative
    # path against the process's folder, which can differ from $PWD.
    param([string]$Path)
    return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Split-List {
    # Splits each value at commas and drops empty items.
    param([string[]]$Values)
    return @($Values | ForEach-Object { $_ -split ',' } |
        ForEach-Object { $_.Trim() } | Where-Object { $_ -ne '' })
}

function Get-NetworkAddress {
    # Returns the IPAddress of "ADDRESS" or "ADDRESS/PREFIX", or $null
    # when the text is neither.
    param([string]$Network)
    # Only digits, hex letters, dots and colons: no IPv6 zone, no quote
    # that could end the string in tern.conf.
    if ($Network -notmatch '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$') {
        return $null
    }
    $parts = $Network -split '/'
    $address = $null
    if (-not [System.Net.IPAddress]::TryParse($parts[0], [ref]$address)) {
        return $null
    }
    $isIPv6 = $address.AddressFamily -eq
        [System.Net.Sockets.AddressFamily]::InterNetworkV6
    # TryParse also accepts "10.1" as 10.0.0.1, which tern does not.
    if (-not $isIPv6 -and ($parts[0] -split '\.').Count -ne 4) {
        return $null
    }
    if ($parts.Count -eq 2) {
        $maxPrefix = if ($isIPv6) { 128 } else { 32 }
        if ([int]$parts[1] -gt $maxPrefix) {
            return $null
        }
    }
    return $address
}

function Get-CheckedNetworks {
    $networks = @(Split-List $AllowFrom)
    $invalid = @($networks | Where-Object { -not (Get-NetworkAddress $_) })
    if ($invalid.Count -gt 0) {
        throw "invalid -AllowFrom value(s): $($invalid -join ', '); give IPv4 or IPv6 addresses or networks such as 10.0.5.0/24 or 2001:db8::/32, separated by commas"
    }
    return $networks
}

function Get-CheckedPorts {
    $values = @(Split-List $Ports)
    $invalid = @($values | Where-Object {
        $_ -notmatch '^[0-9]{1,5}$' -or [int]$_ -lt 1 -or [int]$_ -gt 65535
    })
    if ($values.Count -eq 0 -or $invalid.Count -gt 0) {
        throw "invalid -Ports value(s): '$($Ports -join ',')'; give TCP port numbers from 1 to 65535, separated by commas"
    }
    return @($values | ForEach-Object { [int]$_ } | Sort-Object -Unique)
}

function Get-AccountName {
    # Returns the account's name, or its SID when it has no name.
    param([string]$Sid)
    try {
        $identifier = New-Object System.Security.Principal.SecurityIdentifier($Sid)
        return $identifier.Translate([System.Security.Principal.NTAccount]).Value
    } catch {
        return $Sid
    }
}

function Assert-TrustedOwner {
    # Stops the script when the path exists and is owned by someone other
    # than Administrators, SYSTEM or TrustedInstaller. Such an owner keeps
    # the right to change the ACL whatever the ACL says, and may have
    # written the file itself.
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) {
        return
    }
    $acl = Get-Acl -LiteralPath $Path
    $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if ($owner -notin @($AdministratorsSid, $SystemSid, $TrustedInstallerSid)) {
        throw "$Path is owned by $(Get-AccountName $owner), not by Administrators, SYSTEM or TrustedInstaller, so another user may have created it or put files in it. Check its contents, then delete it or make Administrators its owner (icacls `"$Path`" /setowner *$AdministratorsSid /T) and run this script again"
    }
}

function Get-ServiceAccountSid {
    # Returns the SID of -Account. The virtual account NT SERVICE\tern
    # exists only once the service does.
    if ($Account -eq 'LocalSystem' -or $Account -eq 'NT AUTHORITY\SYSTEM') {
        return $SystemSid
    }
    $name = New-Object System.Security.Principal.NTAccount($Account)
    return $name.Translate([System.Security.Principal.SecurityIdentifier]).Value
}

function Set-ProtectedAcl {
    # Replaces the folder's ACL with a new one that inherits nothing from
    # the parent: full control for $FullControl, read and execute for
    # $ReadExecute, both inherited by everything below. Makes
    # Administrators the owner of the folder and of everything in it, and
    # resets the ACLs below it to inherit only from the folder.
    param([string]$Path, [string[]]$FullControl, [string[]]$ReadExecute = @())
    Invoke-Checked 'icacls.exe' @($Path, '/setowner', "*$AdministratorsSid",
        '/T', '/C', '/Q')
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    $acl.SetOwner((New-Object System.Security.Principal.SecurityIdentifier($AdministratorsSid)))
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $propagate = [System.Security.AccessControl.PropagationFlags]::None
    foreach ($sid in $FullControl) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule(
            (New-Object System.Security.Principal.SecurityIdentifier($sid)),
            'FullControl', $inherit, $propagate, 'Allow')
        $acl.AddAccessRule($rule)
    }
    foreach ($sid in $ReadExecute) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule(
            (New-Object System.Security.Principal.SecurityIdentifier($sid)),
            'ReadAndExecute', $inherit, $propagate, 'Allow')
        $acl.AddAccessRule($rule)
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
    # Files from before this run keep explicit entries of earlier ACLs.
    # icacls fails on a wildcard that matches nothing, so an empty
    # folder is skipped.
    if (Get-ChildItem -Force -LiteralPath $Path) {
        Invoke-Checked 'icacls.exe' @("$Path\*", '/reset', '/T', '/C', '/Q')
    }
}

function Test-Loopback {
    # True for a loopback address, or a network inside 127.0.0.0/8 or
    # ::1/128, which the starting tern.conf always lets relay.
    param([string]$Network)
    $address = Get-NetworkAddress $Network
    $parts = $Network -split '/'
    if ($parts.Count -eq 2) {
        $minPrefix = if ($Network -like '*:*') { 128 } else { 8 }
        if ([int]$parts[1] -lt $minPrefix) {
            return $false
        }
    }
    return [System.Net.IPAddress]::IsLoopback($address)
}

function Get-ListenAddresses {
    # Loopback only unless a remote network may connect. "::" also takes
    # IPv4 (tern binds without IPV6_V6ONLY), and tern rejects "0.0.0.0"
    # beside it on the same port, so it is the only address then.
    param([string[]]$RemoteNetworks)
    if ($RemoteNetworks | Where-Object { $_ -like '*:*' }) {
        return @('::')
    }
    if ($RemoteNetworks) {
        return @('0.0.0.0', '::1')
    }
    return @('127.0.0.1', '::1')
}

function Write-StartingConfig {
    # Writes tern.conf from tern.conf.example with this run's values.
    param([string]$Path, [string[]]$RemoteNetworks, [int[]]$PortList)
    $text = [System.IO.File]::ReadAllText((Join-Path $SourceDir $ConfigTemplate))
    # Forward slashes, because libconfig reads a backslash as an escape.
    $text = $text.Replace($TemplateDataDir, ($DataDir -replace '\\', '/'))

    $entries = foreach ($address in (Get-ListenAddresses $RemoteNetworks)) {
        foreach ($port in $PortList) {
            "    { address = `"$address`"; port = $port; role = `"mx`"; }"
        }
    }
    $listeners = "  listeners = (`n" + ($entries -join ",`n") + "`n  );"
    $relay = @('127.0.0.0/8', '::1/128') + $RemoteNetworks
    $relayNetworks = '  relay_networks = [ ' +
        (($relay | ForEach-Object { "`"$_`"" }) -join ', ') + ' ];'

    # The replacement texts contain only checked addresses and numbers,
    # never a "$" that Regex.Replace would read as a group reference.
    $replacements = @(
        @('(?s)  listeners = \(\r?\n.*?\r?\n  \);', $listeners),
        @('  relay_networks = \[[^\]\r\n]*\];', $relayNetworks))
    foreach ($replacement in $replacements) {
        if ($text -notmatch $replacement[0]) {
            throw "$ConfigTemplate in $SourceDir has no line that matches $($replacement[0]); use the file from the same tern version as this script"
        }
        $text = [regex]::Replace($text, $replacement[0], $replacement[1])
    }
    # UTF-8 without a byte order mark, which libconfig would not accept.
    [System.IO.File]::WriteAllText($Path, $text.Replace("`r`n", "`n"),
        (New-Object System.Text.UTF8Encoding($false)))
    Write-Host "wrote $Path"
}

function Get-TernService {
    return Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
}

function Get-NormalAccount {
    # LocalSystem has several names; the service manager reports
    # "LocalSystem".
    param([string]$Name)
    if ($Name -eq 'NT AUTHORITY\SYSTEM' -or $Name -eq '.\LocalSystem') {
        return 'LocalSystem'
    }
    return $Name
}

function Update-TernService {
    # Points the existing service at this run's programs and
    # configuration. Its account stays, because changing it needs the
    # service to be registered again.
    param($Service, [string]$Ternd, [string]$Config)
    $commandLine = "`"$Ternd`" service run --config `"$Config`""
    $result = Invoke-CimMethod -InputObject $Service -MethodName Change `
        -Arguments @{ PathName = $commandLine }
    if ($result.ReturnValue -ne 0) {
        throw "changing the command line of the service $ServiceName failed with Win32_Service.Change error $($result.ReturnValue)"
    }
    Write-Host "updated the service ${ServiceName}: $commandLine"
}

function Install-Tern {
    # 1. Check everything before changing anything.
    $networks = @(Get-CheckedNetworks)
    $portList = @(Get-CheckedPorts)
    $remote = @($networks | Where-Object { -not (Test-Loopback $_) })
    foreach ($file in $Programs + @($ConfigTemplate)) {
        if (-not (Test-Path -LiteralPath (Join-Path $SourceDir $file))) {
            throw "$file was not found in $SourceDir; give -SourceDir the folder that contains the built programs and $ConfigTemplate"
        }
    }
    $config = Join-Path $DataDir 'tern.conf'
    foreach ($path in @($InstallDir, $DataDir, $config,
            (Join-Path $DataDir 'queue'), (Join-Path $DataDir 'log'))) {
        Assert-TrustedOwner $path
    }
    $service = Get-TernService
    if ($service) {
        $installed = Get-NormalAccount $service.StartName
        if ($installed -ne (Get-NormalAccount $Account)) {
            throw "the service $ServiceName runs as $installed, not as $Account; to change its account, run this script with -Uninstall first, then again with -Account"
        }
    }

    # 2. The programs.
    if ($service -and $service.State -ne 'Stopped') {
        Stop-Service -Name $ServiceName
        Write-Host "stopped the service $ServiceName"
    }
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Set-ProtectedAcl $InstallDir @($AdministratorsSid, $SystemSid) `
        @($UsersSid, $ServiceGroupSid)
    foreach ($program in $Programs) {
        Copy-Item -Force (Join-Path $SourceDir $program) $InstallDir
    }
    Write-Host "copied the programs to $InstallDir (only Administrators and SYSTEM may change them)"

    # 3. The data folder. The service account joins its ACL in step 6,
    # because a virtual account exists only once its service does.
    foreach ($dir in @($DataDir, (Join-Path $DataDir 'queue'),
            (Join-Path $DataDir 'log'))) {
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
    }
    Set-ProtectedAcl $DataDir @($AdministratorsSid, $SystemSid)

    # 4. The configuration.
    if (Test-Path -LiteralPath $config) {
        Write-Host "kept the existing $config"
        if ($PSBoundParameters.ContainsKey('AllowFrom') -or
                $PSBoundParameters.ContainsKey('Ports')) {
            Write-Warning "$config is unchanged: edit its listeners and relay_networks to match -Ports and -AllowFrom, then run 'tern reload'"
        }
    } else {
        Write-StartingConfig $config $remote $portList
    }

    # 5. The check, before the service and firewall change.
    $ternd = Join-Path $InstallDir 'ternd.exe'
    Invoke-Checked $ternd @('-t', '-c', $config)

    # 6. The service, then the ACLs that name its account.
    if ($service) {
        Update-TernService $service $ternd $config
    } else {
        Invoke-Checked $ternd @('service', 'install', '--config', $config,
            '--account', $Account)
    }
    $accountSid = Get-ServiceAccountSid
    Set-ProtectedAcl $DataDir @($AdministratorsSid, $SystemSid, $accountSid)
    Write-Host "ACL of ${DataDir}: Administrators, SYSTEM and $Account only"
    foreach ($name in @('Pickup', 'Badmail')) {
        $dir = Join-Path $IisMailRoot $name
        if (Test-Path -LiteralPath $dir) {
            Invoke-Checked 'icacls.exe' @($dir, '/grant',
                "*${accountSid}:(OI)(CI)M", '/Q')
            Write-Host "granted $Account Modify on $dir"
        }
    }

    # 7. The firewall rule, replaced so that it matches this run, and
    # the start. Windows Firewall does not filter loopback traffic.
    if (Get-NetFirewallRule -Name $FirewallRuleName -ErrorAction SilentlyContinue) {
        Remove-NetFirewallRule -Name $FirewallRuleName
    }
    if ($remote.Count -gt 0) {
        New-NetFirewallRule -Name $FirewallRuleName -DisplayName 'tern SMTP' `
            -Description 'SMTP to tern, from the networks given to install.ps1 -AllowFrom' `
            -Direction Inbound -Protocol TCP -LocalPort $portList `
            -RemoteAddress $remote -Action Allow | Out-Null
        Write-Host "firewall rule ${FirewallRuleName}: TCP port(s) $($portList -join ', ') from $($remote -join ', ')"
    } else {
        Write-Host "no firewall rule: only loopback clients may connect"
    }
    Invoke-Checked $ternd @('service', 'start')
    Write-Host "tern is installed; its log is $(Join-Path $DataDir 'log\tern.log')"
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
    if (Test-Path -LiteralPath $InstallDir) {
        Remove-Item -Recurse -Force -LiteralPath $InstallDir
        Write-Host "removed $InstallDir"
    }
    if ($RemoveData) {
        if (Test-Path -LiteralPath $DataDir) {
            Remove-Item -Recurse -Force -LiteralPath $DataDir
            Write-Host "removed $DataDir with its queue and logs"
        }
    } else {
        Write-Host "kept $DataDir (configuration, queue, logs); -RemoveData removes it"
    }
}

$SourceDir = Resolve-FullPath $SourceDir
$InstallDir = Resolve-FullPath $InstallDir
$DataDir = Resolve-FullPath $DataDir
if ($Uninstall) {
    Uninstall-Tern
} else {
    Install-Tern
}
